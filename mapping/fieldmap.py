"""Field rules: a left field, a right field, the direction values may flow and the conflict rule."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from mapping.transforms import Context, Transform, parse_transform

RuleDirection = Literal["both", "left_to_right", "right_to_left"]
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

    @field_validator("transform", mode="before")
    @classmethod
    def _parse_transform(cls, value: Any) -> Any:
        return parse_transform(value)

    @property
    def key(self) -> str:
        return f"{self.left}<->{self.right}"

    def flows(self, direction: SyncDirection) -> bool:
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
