"""The web app Render starts (`uvicorn app.main:app`). Only the health route matters for the example."""
import os

from fastapi import FastAPI, HTTPException

from app.health import check

app = FastAPI(title="window-builder")


@app.get("/health")
def health() -> dict[str, str]:
    problems = check(os.environ["DATABASE_URL"])
    if problems:
        raise HTTPException(status_code=503, detail="; ".join(problems))
    return {"status": "ok"}
