"""Generated sequence tasks: seeded, no downloads. See each function for its definition."""
from rnnkit.tasks.adding import adding_problem

__all__ = ["adding_problem"]
