"""GET /datasets/{dataset_id}/preview: the rows a provider published, unencrypted, for anyone
to judge a dataset by before paying (no sign-in: the metadata document is public too)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from api.deps import Pool, SettingsDep
from api.problems import Problem
from api.queries import exactly_one
from api.routers.datasets import find_datasets
from api.schemas import ERRORS
from api.stored_documents import metadata_document, read_stored
from common.documents import PreviewDocument

router = APIRouter(tags=["datasets"])


class Preview(PreviewDocument):
    """A dataset's preview rows, and where they are stored."""

    chain_id: int
    dataset_id: str
    preview_cid: str


@router.get(
    "/datasets/{dataset_id}/preview", name="preview", response_model=Preview, responses=ERRORS
)
async def preview(
    request: Request,
    pool: Pool,
    settings: SettingsDep,
    dataset_id: Annotated[str, Path(pattern=r"^[0-9]{1,78}$")],
    chain_id: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> Preview:
    """The dataset's first rows, as its provider published them at upload; 404 with code
    `preview.none` when it published none. Pass `chain_id` when several chains are indexed."""
    dataset = exactly_one(
        await find_datasets(pool, settings, int(dataset_id), chain_id),
        kind="dataset",
        ident=dataset_id,
    )
    blobs = request.app.state.blobs
    doc = await metadata_document(pool, settings.read_schema, blobs, dataset["metadata_cid"])
    if doc.preview_cid is None:
        raise Problem(
            404, "preview.none", f"the provider published no preview rows for dataset {dataset_id}"
        )
    stored = await asyncio.to_thread(
        read_stored, blobs, doc.preview_cid, PreviewDocument, "preview"
    )
    return Preview(
        **stored.model_dump(),
        chain_id=dataset["chain_id"],
        dataset_id=dataset_id,
        preview_cid=doc.preview_cid,
    )
