"""AWS Step Functions: the deployer that schedules a whole flow (state_machine.py
writes the Amazon States Language definition, deployer.py talks to the service)."""
