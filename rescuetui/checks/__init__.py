"""Read-only examinations of a mounted target; each returns findings with evidence."""
