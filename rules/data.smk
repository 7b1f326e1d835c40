FINAL_TARGETS.append("config.yaml")
