"""Reports: the Streamlit app (``app.py``), its page logic (``views``) and the terminal tables."""
