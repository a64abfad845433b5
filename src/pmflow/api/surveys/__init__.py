"""Customer surveys in the API: the form behind a token, answers, a project's surveys and results."""
