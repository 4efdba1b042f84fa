"""Credit-risk evidence: metrics, statistics, scorecard, reason codes, fairness, the HTML report."""
