"""IP pools: named sets of sending addresses, who sends from which, and their warm-up."""
