"""Test doubles for AWS behaviour that moto does not reproduce."""
