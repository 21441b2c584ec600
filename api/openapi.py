"""The read API's OpenAPI 3.1 description, served at /api/open/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from participate import __version__

_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": ["string", "null"]}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or _STRING,
    }


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": _STRING,
    }


def _ok(description: str, schema_ref: str) -> dict[str, Any]:
    return {
        "200": {
            "description": description,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}
            },
        },
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "404": {"$ref": "#/components/responses/NotFound"},
    }


SUBMISSION = {
    "type": "object",
    "description": "A submission record, exactly as the JSON export writes it.",
    "required": ["id", "consultation_id", "consultation_version", "channel", "answers"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "consultation_id": _STRING,
        "consultation_version": _STRING,
        "channel": {"type": "string", "enum": ["kiosk", "sms", "voice"]},
        "device_id": _STRING,
        "seq": {"type": "integer"},
        "respondent": {"type": "string", "description": "SMS: a pseudonym of the number."},
        "language": _STRING,
        "started_at": _NULLABLE_STRING,
        "submitted_at": _STRING,
        "received_at": _NULLABLE_STRING,
        "answers": {"type": "object", "additionalProperties": True},
        "complete": {"type": "boolean"},
        "hidden": {"type": "boolean"},
        "not_asked": {
            "type": "array",
            "items": _STRING,
            "description": "Questions its version's rules (ask_if) did not put to this"
            " person; a question in neither `answers` nor here was left blank.",
        },
    },
}

CONSULTATION = {
    "type": "object",
    "required": ["id", "current_version", "versions"],
    "properties": {
        "id": _STRING,
        "current_version": _STRING,
        "title": {"type": "object", "additionalProperties": _STRING},
        "languages": {"type": "array", "items": _STRING},
        "opens": _NULLABLE_STRING,
        "closes": _NULLABLE_STRING,
        "closed_by_staff": {"type": "boolean"},
        "versions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"version": _STRING, "loaded_at": _STRING},
            },
        },
        "definition": {"type": "object", "description": "The consultation file, parsed."},
    },
}

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": _STRING, "detail": _STRING},
}


def describe(server_url: str) -> dict[str, Any]:
    """Return the OpenAPI description, its server being this hub's API."""
    consultation_id = _path("consultation_id", "The consultation's id.")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Participate read API",
            "version": __version__,
            "description": (
                "Read a hub's consultations and submissions. Every call but this"
                " description needs an API token (`participate add-token`), sent as"
                " `Authorization: Bearer TOKEN` or as the password of Basic authentication."
            ),
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}, {"basic": []}],
        "paths": {
            "/consultations": {
                "get": {
                    "operationId": "listConsultations",
                    "summary": "Every consultation, with its versions",
                    "responses": _ok("The consultations", "ConsultationList"),
                }
            },
            "/consultations/{consultation_id}": {
                "get": {
                    "operationId": "getConsultation",
                    "summary": "One consultation and its current definition",
                    "parameters": [consultation_id],
                    "responses": _ok("The consultation", "Consultation"),
                }
            },
            "/consultations/{consultation_id}/versions/{version}": {
                "get": {
                    "operationId": "getVersion",
                    "summary": "One version's definition",
                    "parameters": [
                        consultation_id,
                        _path("version", "The version (a content hash)."),
                    ],
                    "responses": _ok("The version", "Version"),
                }
            },
            "/consultations/{consultation_id}/codebook": {
                "get": {
                    "operationId": "getCodebook",
                    "summary": "The export's codebook: columns, questions, choices, texts",
                    "parameters": [consultation_id],
                    "responses": _ok("The codebook", "Codebook"),
                }
            },
            "/consultations/{consultation_id}/submissions": {
                "get": {
                    "operationId": "listSubmissions",
                    "summary": "A page of submissions, oldest first, and the next page's cursor",
                    "parameters": [
                        consultation_id,
                        _query("cursor", "The `next_cursor` of the previous page."),
                        _query(
                            "limit",
                            "Submissions a page (1 to 1000, default 100).",
                            {"type": "integer", "minimum": 1, "maximum": 1000},
                        ),
                        _query(
                            "since",
                            "First day (organisation's time zone).",
                            {"type": "string", "format": "date"},
                        ),
                        _query(
                            "until", "Last day, included.", {"type": "string", "format": "date"}
                        ),
                        _query(
                            "channel",
                            "Only this channel.",
                            {"type": "string", "enum": ["kiosk", "sms", "voice"]},
                        ),
                        _query("device", "Only this device id."),
                        _query("language", "Only this language."),
                        _query(
                            "complete",
                            "1: complete only; 0: part-way only.",
                            {"type": "string", "enum": ["0", "1"]},
                        ),
                        _query(
                            "hidden",
                            "1: include hidden submissions (staff tokens only).",
                            {"type": "string", "enum": ["0", "1"]},
                        ),
                        _query("q", "Words the text answers contain."),
                    ],
                    "responses": {
                        **_ok("A page of submissions", "SubmissionPage"),
                        "400": {"$ref": "#/components/responses/BadRequest"},
                        "403": {"$ref": "#/components/responses/Forbidden"},
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            },
            "responses": {
                name: {
                    "description": description,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
                for name, description in (
                    ("BadRequest", "A query argument the API cannot honour"),
                    ("Unauthorized", "No token, or an unknown or revoked one"),
                    ("Forbidden", "The token's role does not allow this"),
                    ("NotFound", "No such consultation or version"),
                )
            },
            "schemas": {
                "Error": ERROR,
                "Submission": SUBMISSION,
                "Consultation": CONSULTATION,
                "ConsultationList": {
                    "type": "object",
                    "properties": {
                        "consultations": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Consultation"},
                        }
                    },
                },
                "Version": {
                    "type": "object",
                    "properties": {"version": _STRING, "definition": {"type": "object"}},
                },
                "Codebook": {
                    "type": "object",
                    "properties": {"codebook": {"type": "array", "items": {"type": "object"}}},
                },
                "SubmissionPage": {
                    "type": "object",
                    "required": ["submissions", "next_cursor", "next"],
                    "properties": {
                        "submissions": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Submission"},
                        },
                        "next_cursor": _NULLABLE_STRING,
                        "next": _NULLABLE_STRING,
                    },
                },
            },
        },
    }
