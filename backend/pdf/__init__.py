"""PDF documents (issue 9): imaging and lab reports and a health summary, rendered with WeasyPrint.

Entry points: ``render.render_imaging_report`` / ``render_lab_report`` / ``render_health_summary``
(typed) or ``render.render_pdf`` (template name + mapping); ``verification.make_code`` /
``verify_code``; ``hashing.content_hash`` / ``document_hash`` / ``templates_fingerprint``.
"""
