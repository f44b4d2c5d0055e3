"""The Streamlit web app (`assistant ui`): app.py is the entry, pages/ one page each, the rest shared."""
