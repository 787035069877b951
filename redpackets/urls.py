page_urls: list = []
api_urls: list = []
