"""FastAPI service — arrives with the server issue."""
