"""The paper's ablation (Table 2) and sensitivity (Figure 2) studies, and the baselines they compare against."""
