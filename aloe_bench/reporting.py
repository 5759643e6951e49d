"""Leaderboard rendering (markdown, csv, json, html, latex)."""

from __future__ import annotations

FORMATS: dict = {}
