"""The comparison report: a monolith run and a microservices run side by side.

`summary` reduces a FailureScenario to what is compared (pure), `plots` draws it, `render`
writes HTML and Markdown, `load` reads the inputs.
"""
