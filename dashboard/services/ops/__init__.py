"""Operations: the health of Redis, beat and the workers, and the overview's figures."""
