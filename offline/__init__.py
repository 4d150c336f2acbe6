"""What is trained from fixed data: datasets and the offline components of DSM, GOM and SFP."""
