"""Config files -> Desired, every problem at FILE:LINE:COL."""
