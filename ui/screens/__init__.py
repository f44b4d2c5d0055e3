"""One script per page of the web app; Streamlit runs each as the page's body."""
