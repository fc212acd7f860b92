"""The REST API (FastAPI): thin routes over the workspace, the models and the app store."""
