"""Page logic for the Streamlit app: plain functions returning DataFrames and charts."""
