"""Reflection: the initial student answers every training prompt; each answer is scored."""
