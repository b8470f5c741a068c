"""Deploying a stage to AWS: template, package, deploy, destroy, doctor."""
