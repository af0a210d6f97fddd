// Placeholder until the policyctl issue.
print("policyctl: not yet implemented")
