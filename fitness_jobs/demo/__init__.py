"""Synthetic demo data for the app tables: ``seed_demo`` streams it into a database,
``generate_demo`` returns it as frames.  ``generator`` lists the modules.
"""
