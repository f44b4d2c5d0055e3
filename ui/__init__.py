"""The Streamlit web app (`assistant ui`): app.py is the entry, screens/ one page each, the rest shared."""
