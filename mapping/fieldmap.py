"""Field rules: a left field, a right field, the direction values may flow and the conflict rule."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from mapping.transforms import Context, Transform, parse_transform

RuleDirection = Literal["both", "left_to_right", "right_to_left", "read_only", "write_only", "read_and_write"]
# Kiplot's words, said from Azure DevOps' side: read-only = from ADO, write-only = to ADO, read-and-write =
# both. They become ours once the side that is ADO is known (`FieldRule.resolved`).
KIPLOT_DIRECTIONS = ("read_only", "write_only", "read_and_write")
ConflictRule = Literal["source_wins", "target_wins", "newest_wins", "left_wins", "right_wins", "flag"]
SyncDirection = Literal["left_to_right", "right_to_left"]
RuleMode = Literal["auto", "manual"]


class FieldRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    left: str
    right: str
    direction: RuleDirection = "both"
    conflict: ConflictRule | None = None  # None: the scenario's default rule
    transform: Transform | None = None
    # manual: flows only on manual and bulk runs (`tandem run`, `tandem sync`), never on polls or hooks
    mode: RuleMode = "auto"
    # declared field types, for systems whose field lists cannot be read (checked against the transform)
    left_type: str | None = None
    right_type: str | None = None

    @field_validator("direction", mode="before")
    @classmethod
    def _kiplot_words(cls, value: Any) -> Any:
        return value.replace("-", "_") if isinstance(value, str) else value

    @field_validator("mode", mode="before")
    @classmethod
    def _mode_words(cls, value: Any) -> Any:
        return "auto" if value == "automatic" else value

    @field_validator("transform", mode="before")
    @classmethod
    def _parse_transform(cls, value: Any) -> Any:
        return parse_transform(value)

    @property
    def key(self) -> str:
        return f"{self.left}<->{self.right}"

    def resolved(self, ado_side: Literal["left", "right"] | None) -> FieldRule:
        """The rule in our words: Kiplot's read-only/write-only/read-and-write given the side that is ADO."""
        if self.direction not in KIPLOT_DIRECTIONS:
            return self
        if self.direction == "read_and_write":
            return self.model_copy(update={"direction": "both"})
        if ado_side is None:
            raise ValueError(
                f"direction '{self.direction}' is said from Azure DevOps' side: the integration needs one "
                "ADO connection, or options.ado_side (left or right)"
            )
        from_ado = "left_to_right" if ado_side == "left" else "right_to_left"
        to_ado = "right_to_left" if ado_side == "left" else "left_to_right"
        return self.model_copy(update={"direction": from_ado if self.direction == "read_only" else to_ado})

    def flows(self, direction: SyncDirection) -> bool:
        if self.direction == "read_and_write":
            return True
        return self.direction in ("both", direction)

    def source_field(self, direction: SyncDirection) -> str:
        return self.left if direction == "left_to_right" else self.right

    def target_field(self, direction: SyncDirection) -> str:
        return self.right if direction == "left_to_right" else self.left

    def convert(self, value: Any, direction: SyncDirection, ctx: Context) -> Any:
        """The source value as the target should hold it."""
        if self.transform is None:
            return value
        if direction == "left_to_right":
            return self.transform.to_right(value, ctx)
        return self.transform.to_left(value, ctx)
