"""Online metrics and analyst reporting: A/B `project_completion_rate` statistics, report tables, SQL views."""
