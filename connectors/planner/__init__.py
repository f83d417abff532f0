"""Microsoft Planner (Graph v1.0, basic plans) behind the connector contract: tasks with their details,
change detection by listing (id, ETag) per plan, people by e-mail through the directory."""
