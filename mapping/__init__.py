"""Field maps: which fields move between two systems, in which direction, converted how."""
