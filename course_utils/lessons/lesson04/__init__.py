"""What lesson 04's cells call for its experiment: the held-out split and its loss by timestep."""
