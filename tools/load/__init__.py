"""A load model of real use (issue 18): who uses the service, how, and how often — with Locust.

``population`` builds the people the model acts as over the public HTTP API (hospitals register
patients and upload their studies, patients bind through the WeChat simulator, invite a relative and
share with a doctor); ``locustfile`` is the model; ``run`` drives a whole run and checks that nothing
acknowledged was lost; ``report`` turns Locust's CSV history into a Markdown report with PNG plots.
docs/load.md explains the mix and the think times.
"""
