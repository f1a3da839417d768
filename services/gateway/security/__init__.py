"""Who is calling and what they may do: staff (JWT), POS/ERP keys, members (member tokens)."""
