"""An old link, /next-token: app.py forwards it to the page it opens now (ui/pages.MOVED)."""
from ui.pages import inside_app

inside_app()
