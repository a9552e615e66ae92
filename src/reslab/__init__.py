"""reslab: what do shortcut connections buy a deep network?"""
