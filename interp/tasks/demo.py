"""Twelve hand-written trivia trials for demos and smoke runs (our own text)."""

from __future__ import annotations

from interp.prompting import Trial

__all__ = ["demo_trials"]

_DEMO = (
    ("Which planet is known as the Red Planet?", "Mars", "Mars", ("Mars",)),
    ("What is the chemical symbol for gold?", "Au", "Au", ("Au",)),
    ("Who painted the ceiling of the Sistine Chapel?", "Raphael", "Michelangelo", ("Michelangelo", "Michelangelo Buonarroti")),
    ("How many sides does a hexagon have?", "6", "6", ("6", "Six")),
    ("What is the capital city of Australia?", "Sydney", "Canberra", ("Canberra",)),
    ("In which city is the US Capitol building?", "Washington, D.C.", "Washington, D.C.", ("Washington, D.C.", "Washington")),
    ("Which element has the atomic number 1?", "Hydrogen", "Hydrogen", ("Hydrogen", "H")),
    ("Who wrote the novel Moby-Dick?", "Herman Melville", "Herman Melville", ("Herman Melville", "Melville")),
    ("What is the largest ocean on Earth?", "The Atlantic Ocean", "Pacific Ocean", ("Pacific", "Pacific Ocean")),
    ("In which year did the Berlin Wall fall?", "1989", "1989", ("1989",)),
    ("What is the smallest prime number?", "2", "2", ("2", "Two")),
    ("Which composer wrote the Four Seasons?", "Antonio Vivaldi", "Antonio Vivaldi", ("Vivaldi", "Antonio Vivaldi")),
)


def demo_trials() -> list[Trial]:
    """Twelve hand-written trivia trials (our own text) with a model-style answer each.

    Three answers are wrong and one ends in punctuation, so a demo run shows both correct and
    incorrect trials and a role-resolution status on tokenizers that merge ".\\n".
    """
    return [
        Trial(id=f"demo-{i:02d}", question=q, answer=a, gold=g, aliases=aliases, metadata={"dataset": "demo"})
        for i, (q, a, g, aliases) in enumerate(_DEMO)
    ]
