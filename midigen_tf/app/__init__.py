"""The web app (Streamlit), shipped inside the package so that ``midigen app`` works after a plain
``pip install .``: ``streamlit_app.py`` is the page, ``studio.py`` what it does (no Streamlit),
``launch.py`` how ``midigen app`` starts and stops the server.

Importing this package imports neither Streamlit nor the page.
"""
