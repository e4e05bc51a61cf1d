"""Predicting with a finished run or an export: loading its model and preparing pictures as it was trained."""
