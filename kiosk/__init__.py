"""The hall kiosk's page, its payment pages and their assets (templates/, static/), served by ``server``."""
