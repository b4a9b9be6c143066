"""Helpers the tests share: loopback servers, deployments, footage, required programs."""
