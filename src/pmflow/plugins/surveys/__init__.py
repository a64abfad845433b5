"""Customer surveys (issue 7): CSAT, NPS and custom questionnaires sent on workflow events. Being built."""
