"""The base of every record a bundle's files hold (model.json's parts, the latent map's, the
calibration's, the int8 record): frozen, and an unknown field is an error, so a file written by a
newer version fails loudly instead of losing what it says."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
