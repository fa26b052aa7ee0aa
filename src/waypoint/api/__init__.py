"""HTTP layer: routes, request models and SSE; calls only the run service."""
