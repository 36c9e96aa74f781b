"""The table stage: schema inference and metadata, value coercion at each column's precision, conditions, file I/O."""
