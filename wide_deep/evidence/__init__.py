"""Credit-risk evidence: metrics, statistics, scorecard, reason codes, fairness, monitoring, the HTML report."""
