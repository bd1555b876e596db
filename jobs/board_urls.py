"""The public ETA board under /board/ (no login)."""

from django.urls import path

from jobs import board

app_name = "board"

urlpatterns = [
    path("", board.board, name="index"),
    path("live/", board.board_fragment, name="fragment"),
]
