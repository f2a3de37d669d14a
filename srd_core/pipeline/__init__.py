"""Pipeline: the phases of ``srd run`` in order, and the dry-run planner."""
