"""The QuestDB sink: rows, the disk spool, delivery over ILP/HTTP, dead letters and self-metrics."""
